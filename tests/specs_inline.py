"""Small specs written inline for the CLI tests (the zoo in specs/ is
maintained separately); each states the figures it must give and why."""

# VGG-16, configuration D of Simonyan & Zisserman 2015 (224x224x3 input).
# Published: torchvision's VGG16 has 138,357,544 parameters and
# 15,470,264,320 conv+fc MACs (shared/references.md).
VGG16 = """\
cnnsize: 1
name: VGG-16
source: Simonyan & Zisserman 2015, configuration D
input: [3, 224, 224]
defaults: {activation: relu}
blocks:
  stage:
    args: {filters: ~, convs: ~}
    layers:
      - {name: conv, type: conv, filters: "${filters}", kernel: 3, padding: 1, repeat: "${convs}"}
      - {name: pool, type: maxpool, kernel: 2}
layers:
  - {name: s1, block: stage, filters: 64, convs: 2}
  - {name: s2, block: stage, filters: 128, convs: 2}
  - {name: s3, block: stage, filters: 256, convs: 3}
  - {name: s4, block: stage, filters: 512, convs: 3}
  - {name: s5, block: stage, filters: 512, convs: 3}
  - {name: fc6, type: fc, units: 4096}
  - {name: fc7, type: fc, units: 4096}
  - {name: fc8, type: fc, units: 1000, activation: none}
"""
VGG16_PARAMS = 138_357_544
VGG16_MACS = 15_470_264_320

# LeNet (1989), LeCun et al., "Backpropagation applied to handwritten zip code
# recognition": 16x16 input; H1 12 maps 8x8 (5x5, stride 2), H2 12 maps 4x4
# each reading 8 of the 12 H1 maps, H3 30 units, 10 outputs; biases per unit.
# The paper's totals: 1,256 units with the input, 64,660 connections, 9,760
# parameters. Which 8 maps each H2 map reads does not change any count.
_ROWS = ["[0,1,2,3,4,5,6,7]", "[4,5,6,7,8,9,10,11]", "[0,1,2,3,8,9,10,11]"] * 4
LENET1989 = f"""\
cnnsize: 1
name: LeNet-1989
source: LeCun et al. 1989
input: [1, 16, 16]
layers:
  - {{name: H1, type: conv, filters: 12, kernel: 5, stride: 2, padding: 2, bias: untied}}
  - {{name: H2, type: conv, filters: 12, kernel: 5, stride: 2, padding: 2, bias: untied, table: [{", ".join(_ROWS)}]}}
  - {{name: H3, type: fc, units: 30}}
  - {{name: out, type: fc, units: 10}}
"""
