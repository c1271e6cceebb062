"""imaclab.systolic"""
