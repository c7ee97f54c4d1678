#!/bin/bash
# ResNet-50 x0.5 on the quickstart's synthetic scenes, the quickstart's recipe (acnet/quickstart.py)
acnet train --data "synthetic:256?size=120x160&seed=0&split=train" --val-data "synthetic:32?size=120x160&seed=0&split=test" \
  --backbone resnet50 --width-mult 0.5 --height 96 --width 128 --epochs 32 --batch-size 8 --lr 0.05 --weight-decay 1e-4 \
  --lr-decay-epochs 8 --val-every 8 --workers 0 --seed 0 --out r50x05 --no-progress
