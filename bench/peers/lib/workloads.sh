# The workloads every peer is given. fio ones take, last, the file for fio's JSON report.
read_buffered() { dd if="$1" of=/dev/null bs=1M status=none; }
read_direct() { dd if="$1" of=/dev/null bs=1M iflag=direct status=none; }
fio_seq() {  # FILE SIZE_MIB REPORT: sequential 1 MiB O_DIRECT writes over the whole device, fsync at the end
  fio --name=seq --filename="$1" --rw=write --bs=1M --size="$2"M --direct=1 --ioengine=psync \
      --end_fsync=1 --randseed=7 --output-format=json --output="$3"
}
fio_half() { # FILE SIZE_MIB REPORT: every other MiB written, so half of any chunk size <= 1 MiB gets copied
  fio --name=half --filename="$1" --rw=write:1M --bs=1M --size="$2"M --direct=1 --ioengine=psync \
      --end_fsync=1 --output-format=json --output="$3"
}
fio_rand() { # FILE SIZE_MIB IO_MIB REPORT: random 4 KiB O_DIRECT writes, iodepth 16, the same offsets each call
  fio --name=rand --filename="$1" --rw=randwrite --bs=4k --size="$2"M --io_size="$3"M --direct=1 \
      --ioengine=libaio --iodepth=16 --randseed=42 --randrepeat=1 --end_fsync=1 --runtime=300 \
      --output-format=json --output="$4"
}
