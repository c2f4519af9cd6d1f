import { Access } from '../http/route-config.js';
import { Controller, Get, Param } from '@nestjs/common';
import { ModelNotFoundError } from '../common/errors/gateway.error.js';
import type { ModelObject } from '../common/openai.types.js';
import { ModelRouter } from '../routing/model-router.js';

/** The configured public models, in OpenAI's list format. */
@Controller('v1/models')
export class ModelsController {
  private readonly list: { object: 'list'; data: readonly ModelObject[] };
  private readonly byId: Map<string, ModelObject>;

  constructor(router: ModelRouter) {
    this.list = { object: 'list', data: router.modelObjects };
    this.byId = new Map(router.modelObjects.map((model) => [model.id, model]));
  }

  @Get()
  @Access('key')
  findAll(): { object: 'list'; data: readonly ModelObject[] } {
    return this.list;
  }

  /** Model ids may contain slashes (`org/model`), hence the wildcard. */
  @Get('*')
  @Access('key')
  findOne(@Param('*') id: string): ModelObject {
    const model = this.byId.get(id);
    if (!model) throw new ModelNotFoundError(id);
    return model;
  }
}
