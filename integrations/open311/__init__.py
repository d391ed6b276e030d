"""Open311 GeoReport v2 server at `/open311/v2/` (DESIGN §8): the dispatch catalogue as
services, citizens' requests registered as orders of channel `open311`, and the orders
read back as service requests. Spec: https://wiki.open311.org/GeoReport_v2/"""
