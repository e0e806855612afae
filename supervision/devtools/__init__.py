"""For demos and local runs only, never imported by the services: the Wuxi demo data set
and a stand-in trustee."""
