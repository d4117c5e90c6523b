"""Scale-out with submitit: the same task lists as a SLURM job array (``--executor slurm``) or as local
processes (``--executor local``), site defaults, request checks, and the task states ``probe status`` shows."""

from probe.cluster.options import ClusterRequest, cluster_options

__all__ = ["ClusterRequest", "cluster_options"]
