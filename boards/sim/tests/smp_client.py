"""Drives the simulated board's SMP server with smpclient (intercreate),
an SMP client nobody here wrote. Usage: smp_client.py TTY IMAGE.
Prints one line per step; exits non-zero on any unexpected answer."""

import asyncio
import hashlib
import struct
import sys

from smpclient import SMPClient
from smpclient.generics import error, success
from smpclient.requests.image_management import ImageStatesRead, ImageStatesWrite
from smpclient.requests.os_management import EchoWrite, ResetWrite
from smpclient.transport.serial import SMPSerialTransport


def image_hash(img: bytes) -> bytes:
    _, _, hdr, prot, size = struct.unpack_from("<IIHHI", img)
    return hashlib.sha256(img[: hdr + size + prot]).digest()


async def main(tty: str, path: str) -> int:
    image = open(path, "rb").read()
    client = SMPClient(SMPSerialTransport(), tty, timeout_s=10)
    await client.connect()
    r = await client.request(EchoWrite(d="hello"))
    assert success(r), r
    print("echo", r.r)
    async for off in client.upload(image, first_timeout_s=10):
        pass
    print("uploaded", off)
    r = await client.request(ImageStatesRead())
    assert success(r), r
    slots = {i.slot: i for i in r.images}
    assert slots[1].hash == image_hash(image), r
    print("slot1", slots[1].version)
    r = await client.request(ImageStatesWrite(hash=image_hash(image), confirm=False))
    assert success(r), r
    pending = [i for i in r.images if i.slot == 1 and i.pending]
    assert pending, r
    print("pending")
    r = await client.request(ResetWrite())
    assert success(r), r
    print("reset")
    await client.disconnect()
    return 0


sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
