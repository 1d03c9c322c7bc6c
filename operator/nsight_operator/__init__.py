"""The nsight-lab operator: custom resources in, Deployments, Services and Secrets out.

It runs kopf handlers that reconcile the ``Nsight*`` resources (:mod:`.handlers`), an
admission webhook that injects the agent into opted-in Pods (:mod:`.webhook`), and a
Lease-based leader election so that of several replicas exactly one reconciles while
every replica serves the webhook (:mod:`.leader`). Manifests are built by pure
functions (:mod:`.builders`) so they are tested without a cluster. It imports
``nsight_lab`` (models, the gateway renderer) and never ``services/``.
"""

__all__: list[str] = []
