"""The appliance image booted in QEMU: build or find the image, boot it with a screen, a
keypad, touch and a loopback-only network, talk to it through a test-only command channel,
cut its power, and capture what reached its screen."""
