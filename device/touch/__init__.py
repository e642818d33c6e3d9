"""The touchscreen read from the kernel's input devices (evdev) when the panel is driven
through KMS/DRM directly, with no SDL window to deliver touches."""
