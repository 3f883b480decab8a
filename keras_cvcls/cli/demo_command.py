"""``keras-cvcls demo``: the main job end to end on a generated sample dataset."""


def register(commands):
    demo = commands.add_parser("demo", help="run the end-to-end demo on a generated sample dataset")
    demo.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    demo.add_argument("--images-per-label", type=int, default=60)
    demo.set_defaults(run=_demo)


def _demo(args):
    from keras_cvcls.demo import run_demo

    run_demo(args.out, images_per_label=args.images_per_label)
    return 0
