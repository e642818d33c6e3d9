"""The appliance image booted in QEMU: build or find the image, boot it with a screen, a
keypad, touch and a loopback-only network, talk to it through a test-only command channel,
cut its power, and capture what reached its screen.

The pieces, for a run of your own (vm_test.py is the complete example):

    built = build_image("amd64")                       # image.py: cached by its inputs
    appliance = Appliance(built.image, workdir, Wiring(keypad_tty=..., province_port=...,
                          local_api_port=..., time_link=TimeServer(...).netdev_option()))
    appliance.boot()                                   # machine.py: QEMU, new disk on first boot
    appliance.console.wait_ready(300)                  # console.py: root shell, this boot only
    appliance.console.run("haochaping-provision check", timeout_s=120, check=False)
    appliance.power_cut()                              # SIGKILL QEMU: unsynced writes are lost
    appliance.boot()                                   # the same disk again
    appliance.power_off()                              # clean shutdown
    appliance.screendump(path)                         # QEMU's copy of the screen, PNG

After each boot the clock needs `console.run(timeserver.guest_setup_script())` (the link
and the NTP server live in /run). The stand-in province for it: standin.running_standin().
"""
