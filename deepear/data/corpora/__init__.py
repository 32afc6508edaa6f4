"""Readers that turn a corpus folder, laid out as its users download it, into a list of `Clip`s.

Readers parse file and folder names only (no audio is decoded) and fill `Clip.labels` (corpus-native) and
`Clip.groups`; the task labels (`Clip.tasks`) come from a task map (deepear.data.taskmap), except for the CSV
manifest, whose columns are task labels already.
"""
