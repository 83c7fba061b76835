# needs: iscsi
# kernel-args: skipmod=sg
# same-as: supervisor-iscsi
# The iSCSI faults of supervisor-iscsi with no sg module in the kernel:
# path checks and array queries go through the disks' own nodes, in
# helper processes, and the supervisor's loop must neither block nor spin.
