"""``make train``: one training script for the laptop and SageMaker, evaluation, model registry.

Two kinds of modules live here, and they import differently on purpose.

*Job modules* run inside a SageMaker container as well as on the laptop: ``entry`` (the
training entry point), ``network``, ``imagedata``, ``augment``, ``metrics`` and ``inference``
(the serving functions). SageMaker copies this directory to ``/opt/ml/code`` and runs
``python entry.py``; the serving container imports ``code/inference.py`` of the model artifact.
In both cases the directory is on ``sys.path`` but there is no package ``train``. So the two
modules that are loaded that way (``entry``, ``inference``) import their siblings with::

    if __package__:                      # imported as train.entry (tests, python -m train)
        from train import network
    else:                                # top-level module: /opt/ml/code or the artifact's code/
        import network

The other job modules import nothing from the project, except ``monitor.image_stats``, which is
shipped next to them (estimator ``dependencies``). The job modules need only torch, numpy and
Pillow, which the SageMaker PyTorch containers have.

*Host modules* run only on the machine that starts the work and import ``train.*`` and
``settings`` normally: ``__main__`` (the CLI), ``local_job`` and ``sagemaker_job`` (where the job
runs), ``artifacts`` (model.tar.gz, S3), ``registry`` and ``predict``.
"""
