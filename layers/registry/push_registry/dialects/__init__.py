"""One renderer per response dialect: the same domain errors, each API's own wire format."""
