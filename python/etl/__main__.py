from etl.cli import main
from settings import run_cli

run_cli(main)
