"""The emulated AWS endpoint (moto in server mode, with fixes: ``server``) and the resources
provisioned on it from the template (``emulator``)."""
