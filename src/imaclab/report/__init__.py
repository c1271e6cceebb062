"""imaclab.report"""
