"""Why a package upload is refused: one error, with its own stable code, per way a package can be wrong.

Each names what is wrong and where in `errors` (`[{path, message}]`): a zip member's name, a file of the package
(`flow_definition.json`), or a JSON path inside one (`app_definition.json:$.settings.sync_timeout_s`), with the
line and column for JSON that does not parse. Nothing is stored when one is raised."""

from __future__ import annotations

from workflow_service.errors import ServiceError


class InvalidPackage(ServiceError):
    """Not a zip, a zip that cannot be read (corrupt, encrypted, an unsupported compression), or both a zip and
    loose files in one upload."""

    status, code, title = 422, "invalid_package", "The upload is not a readable workflow package"


class PackageFileMissing(ServiceError):
    status, code, title = 422, "package_file_missing", "A file of the package is missing"


class PackageUnknownFile(ServiceError):
    status, code, title = 422, "package_unknown_file", "The package holds files it should not"


class PackageUnsafePath(ServiceError):
    """A directory entry, a `..`, an absolute path or a backslash in a member's name."""

    status, code, title = 422, "package_unsafe_path", "The package holds an unsafe path"


class PackageTooManyFiles(ServiceError):
    status, code, title = 422, "package_too_many_files", "The package holds too many files"


class PackageTooLarge(ServiceError):
    status, code, title = 413, "package_too_large", "The package is too large"


class PackageExpandsTooFar(ServiceError):
    """A zip whose files, read out, pass MAX_UNCOMPRESSED_BYTES (a zip bomb): counted while reading."""

    status, code, title = 413, "package_uncompressed_too_large", "The package's files are too large uncompressed"


class InvalidPackageJson(ServiceError):
    status, code, title = 422, "invalid_json", "A file of the package is not valid JSON"


class InvalidPackageFile(ServiceError):
    """A file that parses but does not have its shape (spec.py's models, and the rules of what it holds)."""

    status, code, title = 422, "invalid_package_file", "A file of the package is not valid"


class UnsupportedFormatVersion(ServiceError):
    status, code, title = 422, "unsupported_format_version", "The package's format is newer than this release reads"


class PassphraseRequired(ServiceError):
    status, code, title = 422, "passphrase_required", "The package's secure values need the export's passphrase"


class WrongPassphrase(ServiceError):
    status, code, title = 422, "wrong_passphrase", "The passphrase does not decrypt the package's secure values"
