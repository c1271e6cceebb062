"""imaclab.spice"""
