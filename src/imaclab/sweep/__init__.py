"""imaclab.sweep"""
