"""Training: pre-training (``pretrain.py``), the downstream loop (``downstream.py``), fine-tuning
and linear probing on audio tasks (``finetune.py``), and the optimiser groups and schedules they
share (``optim.py``). The loops know nothing about which dataset they get."""
