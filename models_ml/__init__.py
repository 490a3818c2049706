"""Models for the vasmart pipeline: features, training, evaluation, registry, scoring."""

import os

# LightGBM's OpenMP threads spin while they wait by default; on a machine whose cores are shared with other
# jobs that makes two threads run several times slower than one. Waiting passively costs nothing when the
# cores are free. Must be set before the OpenMP runtime starts (before lightgbm is imported).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
