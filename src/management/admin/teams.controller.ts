/** `/admin/teams`: teams and their budgets (admin keys only). */
import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Req } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { Access } from '../../http/route-config.js';
import { AdminThrottled } from '../../rate-limit/admin-throttle.js';
import { parseInput } from './admin-input.js';
import { CreateTeamDto, ListTeamsQuery, UpdateTeamDto } from './admin.dto.js';
import { actorOf } from './keys.controller.js';
import { TeamsService } from './teams.service.js';
import type { ListPage, TeamView } from './views.js';

@Controller('admin/teams')
@AdminThrottled()
export class TeamsController {
  constructor(private readonly teams: TeamsService) {}

  @Post()
  @Access('admin', { jsonBody: true })
  @HttpCode(201)
  create(@Req() request: FastifyRequest, @Body() body: unknown): Promise<TeamView> {
    return this.teams.create(actorOf(request), parseInput(CreateTeamDto, body));
  }

  @Get()
  @Access('admin')
  list(@Query() query: unknown): Promise<ListPage<TeamView>> {
    return this.teams.list(parseInput(ListTeamsQuery, query, 'query'));
  }

  @Get(':id')
  @Access('admin')
  get(@Param('id') id: string): Promise<TeamView> {
    return this.teams.get(id);
  }

  @Patch(':id')
  @Access('admin', { jsonBody: true })
  update(@Req() request: FastifyRequest, @Param('id') id: string, @Body() body: unknown): Promise<TeamView> {
    return this.teams.update(actorOf(request), id, parseInput(UpdateTeamDto, body));
  }

  @Delete(':id')
  @Access('admin')
  remove(@Req() request: FastifyRequest, @Param('id') id: string) {
    return this.teams.remove(actorOf(request), id);
  }
}
