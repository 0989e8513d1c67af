"""Load generator for the deployed classification workflow (``python -m loadtest``).

It starts Step Functions executions in bursts, as a Poisson stream or as one fan-out batch, waits
for every one of them, accounts for each image exactly once, checks that the endpoint's data
capture holds one record per endpoint invocation, and writes ``reports/loadtest-<ts>.json|csv``
for the monitoring report. One module per concern: ``schedule`` (arrival times), ``drift``
(altered images), ``images`` (what is sent), ``submit`` and ``tracker`` (starting and waiting),
``history`` (what the executions did), ``accounting`` (outcomes and figures), ``capture``,
``cost``, ``faults``, ``results`` (table and files) and ``run`` (the whole run).
"""
