"""The bundled workload the demo profiles."""
