"""The ``--allow-private-addresses`` flag, shared by every command that fetches image URLs."""


def add_private_addresses_flag(parser):
    """Adds ``--allow-private-addresses`` (``args.allow_private_addresses``: True, or None for the default).

    Args:
        parser: an ``argparse`` parser.
    """
    from keras_cvcls.data.acquisition.public_address import ALLOW_PRIVATE_ENV

    parser.add_argument(
        "--allow-private-addresses", action="store_true", default=None,
        help="also fetch image URLs from loopback, private and link-local addresses (your own network); "
             f"by default they are refused, redirects included, unless {ALLOW_PRIVATE_ENV}=1",
    )
