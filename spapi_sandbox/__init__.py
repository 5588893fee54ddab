"""A local SP-API: serves Amazon's published models on loopback for the demo and the tests."""
