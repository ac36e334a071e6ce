"""The local cloud: the engine's AWS resources on moto, a virtual clock, and the pump."""
