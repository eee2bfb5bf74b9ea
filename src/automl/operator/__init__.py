"""The Kubernetes operator: an ``AutoMLJob`` becomes Jobs, a Deployment and a Service.

Layers, bottom to top (each imports only those below it):

- :mod:`.settings`   operator settings from flags and environment (images, caps, defaults)
- :mod:`.manifests`  pure functions from (job, settings) to Kubernetes objects
- :mod:`.status`     pure functions from observations to the resource's status
- :mod:`.kube`, :mod:`.runstore`  thin adapters: the API server and the run's storage
- :mod:`.reconcile`  one job's state machine, driven by what it *observes* (child Jobs,
  their pods' termination messages, results in storage), never by remembered edges
- :mod:`.handlers`   the kopf handlers: a daemon per AutoMLJob, a wake-up on Job events
- :mod:`.__main__`   ``python -m automl.operator``

The operator keeps no state of its own: every child has a deterministic name, the proposed
candidate is stored on its Job (annotation), and results live in storage. A restarted
operator lists the Jobs, re-reads the results and rebuilds the search from them.

This package must stay importable without kopf (the trainer image shares the distribution);
only :mod:`.handlers` and :mod:`.__main__` import it.
"""
