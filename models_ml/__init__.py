"""Models for the vasmart pipeline: features, training, evaluation, registry, scoring."""
