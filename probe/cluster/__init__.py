"""Scale-out with submitit, without any user interface: the task lists (:mod:`probe.cluster.tasks`) that run as a
SLURM job array (``--executor slurm``) or as local processes (``--executor local``), site defaults
(:mod:`probe.cluster.settings`), request checks (:mod:`probe.cluster.sanity`) and the submission records and task
states ``probe status`` shows (:mod:`probe.cluster.jobs`). The command-line side (options, submitting with a
progress bar) is :mod:`probe.commands.cluster_options` and :mod:`probe.commands.cluster_submit`."""
