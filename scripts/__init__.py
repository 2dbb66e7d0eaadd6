"""Developer scripts; a package so that their pure parts can be imported by the tests."""
