"""Synthetic storefront: catalog, shoppers, click model and demo rankers.

The world every test and demo runs against. It talks to the gateway only over
HTTP; torch is imported only by the model builder.
"""
