/** `/admin/keys`: virtual keys in the database (admin keys only). Thin: parse the input, call KeysService. */
import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { callerOf } from '../../auth/gateway-key.js';
import { Access } from '../../http/route-config.js';
import { AdminThrottled } from '../../rate-limit/admin-throttle.js';
import { parseInput } from './admin-input.js';
import { CreateKeyDto, ListKeysQuery, RotateKeyDto, UpdateKeyDto } from './admin.dto.js';
import type { AdminActor } from './audit.js';
import { type IssuedKey, KeysService } from './keys.service.js';
import type { KeyView, ListPage } from './views.js';

export function actorOf(request: FastifyRequest): AdminActor {
  return { actor: callerOf(request).id, requestId: request.id };
}

@Controller('admin/keys')
@AdminThrottled()
export class KeysController {
  constructor(private readonly keys: KeysService) {}

  @Post()
  @Access('admin', { jsonBody: true })
  @HttpCode(201)
  create(@Req() request: FastifyRequest, @Body() body: unknown): Promise<IssuedKey> {
    return this.keys.create(actorOf(request), parseInput(CreateKeyDto, body));
  }

  @Get()
  @Access('admin')
  list(@Query() query: unknown): Promise<ListPage<KeyView>> {
    return this.keys.list(parseInput(ListKeysQuery, query, 'query'));
  }

  @Get(':id')
  @Access('admin')
  get(@Param('id') id: string): Promise<KeyView> {
    return this.keys.get(id);
  }

  @Patch(':id')
  @Access('admin', { jsonBody: true })
  update(@Req() request: FastifyRequest, @Param('id') id: string, @Body() body: unknown): Promise<KeyView> {
    return this.keys.update(actorOf(request), id, parseInput(UpdateKeyDto, body));
  }

  @Post(':id/rotate')
  @Access('admin')
  @HttpCode(200)
  rotate(@Req() request: FastifyRequest, @Param('id') id: string, @Body() body: unknown): Promise<IssuedKey> {
    return this.keys.rotate(actorOf(request), id, parseInput(RotateKeyDto, body ?? {}));
  }

  @Post(':id/revoke')
  @Access('admin')
  @HttpCode(200)
  revoke(@Req() request: FastifyRequest, @Param('id') id: string): Promise<KeyView> {
    return this.keys.revoke(actorOf(request), id);
  }
}
