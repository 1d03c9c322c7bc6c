"""Pure functions from a resource's spec to the Kubernetes objects that realise it.

Nothing here reads the cluster: what a builder needs to know (a Secret's name, the
coordinator's URL) is passed in, so every manifest is unit-tested as data and the
reconciler (:mod:`nsight_operator.reconcile`) only fetches, applies and reports.
"""
