"""Writers from the normalized trace model to formats other tools open."""
