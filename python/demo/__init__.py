"""``make demo``: the closing summary of the whole local pipeline (the Makefile runs the stages)."""
