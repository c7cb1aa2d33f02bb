"""The declarative pipeline language: YAML -> validated models -> a stage graph."""
