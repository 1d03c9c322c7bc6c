"""What nsight-lab knows about Kubernetes, shared by the operator and the CLI.

The custom resources' spec models (:mod:`.resources`) are the one definition of each
resource: the CRD schemas in ``operator/crds`` are generated from them, the operator
validates what it reads with them, and ``autoconfigure`` reads the gateway with them.
Nothing here talks to a cluster; :mod:`.autoconfigure` takes objects already fetched.
"""
