"""Domain services: rota, sync, devices, directory. Transport-free."""
