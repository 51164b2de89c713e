"""Errors of the provisioning package; the CLI prints them and exits non-zero."""


class ProvisionError(Exception):
    """Root of every error this package raises on purpose."""


class HubError(ProvisionError, RuntimeError):
    """The hub refused a request or could not be reached."""


class BundleError(ProvisionError, ValueError):
    """A device bundle is missing, incomplete or belongs to another device."""


class ImageError(ProvisionError, ValueError):
    """A disk image has no usable FAT boot partition, or writing to it failed."""


class BrokerConfigError(ProvisionError, ValueError):
    """Broker credentials or ACL cannot be generated from the inputs given."""
