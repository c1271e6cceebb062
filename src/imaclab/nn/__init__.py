"""imaclab.nn"""
