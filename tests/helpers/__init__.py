"""What the tests share: running plugins as a user does and in process, the real
servers of the integration tests (NSD, Postfix, Icinga 2), the RFC 7208 suite,
and DKIM keys. Imported as ``tests.helpers.<module>``."""
