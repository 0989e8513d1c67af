"""``make data``: CIFAR-100 -> ``data/processed`` -> ``s3://<data bucket>/``.

One module per step: ``extract`` (download or local tarball, md5, resume), ``archive`` (safe
reading of the tarball and its pickles), ``classes`` (selection by name), ``transform`` (PNG,
``.lst``, ``labels.json``, ``manifest.json``, atomic swap), ``load`` (S3 mirror), ``cli``.
"""
