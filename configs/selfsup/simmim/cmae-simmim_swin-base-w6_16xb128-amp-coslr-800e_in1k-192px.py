# Two-shot SimMIM, Swin-B, L(0,3; 0.6,0.1) (paper Sec. 3.3, Tab. 6: 84.9 top-1 after fine-tuning).
# mmpretrain's SimMIM Swin-B 800-epoch recipe (the recipe base, shared with the one-shot baseline
# simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py; its header lists every value and the
# two deviations towards Microsoft's SimMIM), with this shot schedule.
# Shot 2 masks 10% of the cells still visible at the input of stage 3 (6x6 cells of width 1024,
# one per 32x32 mask cell): 2 more of the 14 visible cells per image; the loss covers the union.
# Rounding of shot 2: the paper writes N4 = η2 N1 = 1.4 without saying how it rounds. The default
# keeps int(14 x 0.9) = 12 (the ViT family's rule; effective η2 = 2/14 = 0.143); rounding 1.4 masks
# 1 cell: --cfg-options model.backbone.later_shot_rounding=mask_round
# Total batch 2048 = 16 GPUs x 128.
#   tools/dist_train.sh configs/selfsup/simmim/cmae-simmim_swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py 16
_base_ = '../../_base_/recipes/swin-base-w6_16xb128-amp-coslr-800e_in1k-192px.py'
model = dict(backbone=dict(mask_layers=[0, 3], mask_ratios=[0.6, 0.1]))
