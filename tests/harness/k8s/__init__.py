"""A Kubernetes API emulator for the deploy engine's tests, split by API family.

``emulator`` (the ``K8sEmulator`` class: lifecycle and test-side API) is assembled from:
``server`` (HTTP, routing, discovery, ``/scale``), ``store`` (objects, resourceVersion,
create/replace/delete/patch), ``validation`` (defaulting and validation, dispatched by family;
apps/v1 workloads), ``core`` (Pods and Services), ``coordination`` (Leases), ``apps`` (the
Deployment -> ReplicaSet controller) and ``pods`` (ReplicaSet -> Pod), ``custom`` (custom
resources: Istio VirtualServices, Argo Rollouts validated against their CRD schema) and
``rollouts`` (an Argo Rollouts controller driven by ``tick()``). ``patches`` holds the patch
maths, ``labels`` the selector syntax, ``errors`` the ``Status`` answers.
"""
