"""Your plug-in metrics, named in params.yaml as `evaluate.metrics.<name>.fn: plugins.<module>:<function>`.

Only the evaluate stage depends on this folder (dvc.yaml), so adding or editing a plug-in reruns evaluate and report
and never a training stage. What a function receives depends on the metric's level (metrics/registry.py): one scored
sample record (level item, the default), the samples of one prompt (prompt) or all of a policy's samples (set).
README's "Adding a metric" walks through plugins/examples.py.
"""
