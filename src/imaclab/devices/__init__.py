"""imaclab.devices"""
