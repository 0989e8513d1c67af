"""The ways ``make data`` can fail, each named after the problem so the one-line message says it.

All are ``settings.CliError`` subclasses: ``settings.run_cli`` prints ``error: Name: message``
and exits 2, without a traceback.
"""

from __future__ import annotations

from settings import CliError


class UnknownClass(CliError):
    """A requested class name is not a CIFAR-100 fine label (the message lists the valid ones)."""


class TarballNotFound(CliError):
    """``--tarball`` / ``CIFAR_TARBALL`` names a file that does not exist."""


class TarballUnreadable(CliError):
    """``--tarball`` / ``CIFAR_TARBALL`` names a file that cannot be read (permissions, I/O)."""


class DownloadFailed(CliError):
    """The tarball could not be downloaded within the bounded retries (no network, server error)."""


class ChecksumMismatch(CliError):
    """A downloaded tarball does not have the expected md5; the download is deleted."""


class InvalidMd5(CliError):
    """``--md5`` is not 32 hexadecimal digits."""


class CorruptArchive(CliError):
    """The tarball is not a readable CIFAR-100 archive (gzip/tar error, missing member, bad pickle)."""


class UnsafeArchive(CorruptArchive):
    """The tarball holds something that must never be trusted: a path escaping the target
    directory, an absolute path, a link or device, a file name that is not a plain name, or a
    pickle that references code other than numpy's array reconstruction."""


class DataDirBusy(CliError):
    """Another ``make data`` holds the lock on the data directory."""


class DataDirUnwritable(CliError):
    """The data directory (or its ``raw/`` or ``processed/``) cannot be created or written: a file
    in the way, no permission, a full disk. The previous dataset is kept as it was."""


class BucketUnreachable(CliError):
    """The data bucket does not exist, is not accessible, or S3 cannot be reached."""


class UploadFailed(CliError):
    """S3 rejected an upload (the local dataset is complete; rerun to retry the upload)."""
